#!/bin/sh
# The "application": reads the "database" and answers once.
echo "$APP_GREETING (version 1)"
echo "users in the database: $(($(wc -l < /var/lib/db/users.csv) - 1))"
