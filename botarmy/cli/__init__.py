"""The `botarmy` command line (`botarmy.cli.main:app`): the roof of the house; nothing imports it."""
