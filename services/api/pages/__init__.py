"""The web pages: server-rendered HTML for staff, counselors, funders and admins, behind a session cookie."""
