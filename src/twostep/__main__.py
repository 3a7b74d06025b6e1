from twostep.cli import main

main()
