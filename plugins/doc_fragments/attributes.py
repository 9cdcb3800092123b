# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # propie.rollback.attributes - a module that changes something supports check mode and
    # diff mode in full; each module adds its own description of what check mode reads and
    # what its diff shows.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

    # propie.rollback.attributes.read_only - a module that only reads (the *_info modules,
    # plan and status).
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    description:
      - The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description:
      - The module changes nothing, so there is no diff.
"""
