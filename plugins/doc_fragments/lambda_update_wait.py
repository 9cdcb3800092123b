# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The wait of the modules that change a Lambda function's environment (app_config_swap,
    # dynamodb_table_swap); module_utils.swap.LAMBDA_WAIT_ARGS is its argument spec.
    DOCUMENTATION = r"""
options:
  wait_timeout:
    description:
      - Seconds to wait for a Lambda function's configuration update to finish.
    type: int
    default: 300
  wait_delay:
    description:
      - Seconds between two reads while waiting.
    type: int
    default: 2
"""
