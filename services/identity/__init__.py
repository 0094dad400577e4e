"""The identity service: staff, service and member sign-in, and the tokens the others trust."""
