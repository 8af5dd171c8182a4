"""A ContinuousLogger in a process of its own, driven line by line on stdin (for the SIGKILL test).

    put A B   enqueue points A..B-1 (codename "c", time T0 + i, value i); answers "ok B" once accepted
    stop S    stop(timeout=S); answers "left N"
"""

import json
import logging
import sys

from lab_mysql import ContinuousLogger

T0 = 1_700_000_000.0


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = json.loads(sys.argv[1])
    logger = ContinuousLogger(**options)
    logger.start()
    print("started", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "put":
            start, end = int(args[0]), int(args[1])
            for i in range(start, end):
                logger.enqueue_point("c", (T0 + i, float(i)))
            print(f"ok {end}", flush=True)
        elif command == "stop":
            print(f"left {logger.stop(float(args[0]))}", flush=True)
            return


if __name__ == "__main__":
    main()
