"""Reference data (DESIGN §4.4): the folder of CSV files an administrator maintains.

``spec`` declares what each file must contain; ``loader`` checks a whole folder against it
and against the database, and upserts it in one transaction (``billing reference load DIR``).
"""
