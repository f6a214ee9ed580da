"""What the patterns say, shared by the rooms: the static background, edges, one pattern registered on another."""
