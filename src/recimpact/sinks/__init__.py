"""Where results go: report rows and files (local folders and S3), and CloudWatch."""
