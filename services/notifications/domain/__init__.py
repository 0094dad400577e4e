"""The notifications service's rules: items and whose inbox they go to, their texts, fatigue
(quiet hours, the daily budget, digests) and reminders. No I/O."""
