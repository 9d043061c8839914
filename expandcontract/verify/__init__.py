"""``ec verify``: prove the application's models work on the schema they will get."""
