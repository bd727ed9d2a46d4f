from falmigrate.cli.app import main

main()
