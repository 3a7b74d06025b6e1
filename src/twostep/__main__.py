from twostep.cli_entry import main

main()
