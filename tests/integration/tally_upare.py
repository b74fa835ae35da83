"""`python -m tests.integration.tally_upare ...`: the `upare` command with the tally projection.

The kill tests run the projector as a real process; this adds the test-only projection to the
list every process wires (`projections.PROJECTIONS`), then runs the real command line.
"""

from projections import PROJECTIONS
from tests.integration.tally import TallyProjection
from upare.cli import main

if __name__ == "__main__":
    PROJECTIONS.append(TallyProjection)
    main()
