"""The demo application that ``make run`` shows off."""
