"""The timer jobs, one module each: what is due is found with Redmine's own
filters (so a sweep costs what is due, not what exists), each due issue is
judged as it is now by the shared `Judge`, and each job reports what it did
as counts by kind (the rules' `Milestone`s), never by reading note keys."""
