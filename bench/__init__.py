"""BotArmy's benchmark suite: the engine against bare Temporal, history size, memory, validation (`make bench`)."""
