"""HTTP and the AWS protocols. Knows botocore's service models; knows nothing of storage."""
