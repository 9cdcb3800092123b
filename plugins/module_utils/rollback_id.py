# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollback-id convention, in one place.

A rollback id looks like rb-20261130T034501Z-9f2c1a (UTC second plus 24 random bits). Every
mutating call this collection makes carries it, so that a re-run recognises its own work:

- in an Amplify jobReason / description, as a marker ``propie-rollback:<id>``;
- in a CloudFormation ClientRequestToken, as ``<id>-<action>``;
- in a resource tag ``propie-rollback:rollback-id`` (DynamoDB recovery tables);
- in incident records and drill reports.
"""

from __future__ import annotations

import os
import re
import time

# The id itself, without anchors: the other patterns are built from it.
PATTERN = r"rb-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}"
ROLLBACK_ID_RE = re.compile("^" + PATTERN + "$")
FORM = "rb-YYYYMMDDTHHMMSSZ-xxxxxx"

# Marker in free text (jobReason, description).
MARKER_PREFIX = "propie-rollback:"
MARKER_RE = re.compile(re.escape(MARKER_PREFIX) + "(" + PATTERN + ")")

# Tag key on resources the collection creates.
TAG_KEY = MARKER_PREFIX + "rollback-id"

# CloudFormation ClientRequestToken: "<rollback id>-<action>". CloudFormation stamps every
# event of an operation with its token, so a re-run can tell its own work in progress.
TOKEN_ACTIONS = ("rollback", "continue", "cancel", "template")
TOKEN_RE = re.compile("^(" + PATTERN + ")-(" + "|".join(TOKEN_ACTIONS) + ")$")


def new_rollback_id(now=None):
    """A fresh rollback id: UTC timestamp plus 24 random bits."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return "rb-%s-%s" % (stamp, os.urandom(3).hex())


def is_rollback_id(text):
    return bool(ROLLBACK_ID_RE.match(text or ""))


def validate_rollback_id(module, rollback_id):
    if rollback_id and not is_rollback_id(rollback_id):
        module.fail_json(
            msg="rollback_id %r is not of the form %s; omit it to let the module make one" % (rollback_id, FORM)
        )


def marker(rollback_id, note=""):
    """Text to put in a jobReason/description that identifies the rollback."""
    text = MARKER_PREFIX + rollback_id
    return "%s %s" % (text, note) if note else text


def marked_rollback_id(text):
    """The rollback id carried by a jobReason/description, or None."""
    match = MARKER_RE.search(text or "")
    return match.group(1) if match else None


def client_token(rollback_id, action):
    """The ClientRequestToken for `action` of this rollback."""
    return "%s-%s" % (rollback_id, action)


def token_rollback_id(token):
    """(rollback id, action) of a token this collection sent, or None."""
    match = TOKEN_RE.match(token or "")
    return (match.group(1), match.group(2)) if match else None
