# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The app every Amplify module works on (propie.rollback.amplify).
    DOCUMENTATION = r"""
options:
  app_id:
    description:
      - The Amplify app id.
    type: str
    required: true
"""

    # The custom domain of the domain modules (propie.rollback.amplify.domain).
    DOMAIN = r"""
options:
  domain_name:
    description:
      - The custom domain, for example C(prop-ie-app.com).
    type: str
    required: true
"""

    # A rollback id the module only reports (propie.rollback.amplify.report_rollback_id).
    REPORT_ROLLBACK_ID = r"""
options:
  rollback_id:
    description:
      - A rollback id to report in the result, for the incident record.
    type: str
"""
