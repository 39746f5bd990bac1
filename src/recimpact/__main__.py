from recimpact.cli.main import main

main()
