"""The collection loads and the runner fixture drives amazon.aws against the sandbox."""


def test_amazon_aws_module_reaches_sandbox(sandbox, run_playbook):
    run = run_playbook(
        """
- name: Smoke
  hosts: localhost
  gather_facts: false
  tasks:
    - name: List stacks
      amazon.aws.cloudformation_info:
      register: topics
"""
    )
    assert run.rc == 0, run.stdout
    assert run.result("List stacks")["cloudformation"] == {}
    assert [r["operation"] for r in sandbox.requests()][-1] == "DescribeStacks"
