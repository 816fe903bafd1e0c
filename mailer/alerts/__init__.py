"""Breaking news: an editor's alert to every reader who chose the story's section as it
happens, planned set-based as the digest is, sent on the alerts lane, never at night in
the reader's zone, never more than the daily cap, never twice in their digest."""
