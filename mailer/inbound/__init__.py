"""What comes back from the world: bounces, delay warnings, complaints, auto-replies
and unsubscribe mail, read from raw messages."""
