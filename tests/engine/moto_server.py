"""moto's server (pinned in .ci/run) as wsgen's tests run it, on 127.0.0.1.

One fix for a known gap of moto 5.2.5: executing a change set leaves the stack's parsed
template and outputs as they were when the change set was created (CreateStack and
UpdateStack do recompute them), so DescribeStacks would report no outputs after a
change-set deploy. AWS computes outputs after every change set, so this re-derives them.

The server exits when the process that started it does (the test binary), so no moto
outlives a test run.

usage: moto_server.py PORT
"""
import os
import sys
import threading
import time

from moto.cloudformation import models

_apply = models.ChangeSet.apply


def _apply_and_refresh_outputs(self):
    _apply(self)
    self.stack.template = self.template
    self.stack._parse_template()
    self.stack.output_map = self.stack._create_output_map()


models.ChangeSet.apply = _apply_and_refresh_outputs


def _exit_with_parent(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

from moto.server import main  # noqa: E402

main(["-H", "127.0.0.1", "-p", sys.argv[1]])
