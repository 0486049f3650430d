"""What every part of the console shares: dialogs, prompts, help, keys, settings, plots."""
