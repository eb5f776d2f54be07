#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The scale simulator's small run (tests/sim/, HACKING.md): 50 nodes, 4,000
# chunks.  Fails when a join or a leave moves more than 1.5/N of the copies,
# a copy moves anywhere but to the joiner or from the leaver, a node owns
# nothing, or the namespace does not converge to one tree after churn.
exec "${MFS_BUILD:-.}/tests/sim/modelfs-sim" --smoke
