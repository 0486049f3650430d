"""The console's run: its session (train, follow, steer) and the training screen that draws it."""
