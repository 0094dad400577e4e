-- Skills that need proof (medical care, legal advice, electrical repair, driving, first aid,
-- counselling) count for matching only once staff have verified a certificate. None was verified
-- before this: the members' rows drop them until the registry's next snapshot says otherwise.
UPDATE member SET skills = skills - 'medical' - 'legal_advice' - 'repair_electrical'
    - 'driving' - 'first_aid' - 'counseling';
