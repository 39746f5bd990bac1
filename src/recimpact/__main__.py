from recimpact.cli import main

main()
