"""Write the central collector's configuration for machines m01..mNN (examples/fleet/machine.toml).

    python examples/fleet/make_central.py --machines 20 > central.toml
    LAB_DB_PASSWORD=… lab run central.toml
"""

from __future__ import annotations

import argparse

HEADER = """\
# The central collector: every message of the fleet's topics -> MariaDB, each sample once.
# Written by examples/fleet/make_central.py --machines {machines}.

[collector]
spool_dir = "var/spool/central"

[readers.bus]
plugin = "mqtt"
host = "${{LAB_BROKER:-127.0.0.1}}"
port = "${{LAB_BROKER_PORT:-1883}}"
mode = "every"                         # every message, with the time it carries
client_id = "lab-central-1"            # the persistent session: stable, one per central collector
# username = "central"                 # a broker with accounts: its password from the environment
# password_env = "LAB_MQTT_PASSWORD"

[writers.db]
plugin = "mysql"
host = "${{LAB_DB_HOST:-127.0.0.1}}"
port = "${{LAB_DB_PORT:-3306}}"
user = "${{LAB_DB_USER:-lab}}"
password_env = "LAB_DB_PASSWORD"
database = "${{LAB_DB_NAME:-cinfdata}}"
setup = "fleet"                        # table dateplots_fleet, unique key (type, time)
create_tables = true
register_codenames = true
spool = "disk"

[[contexts]]
id = 1
default_interval_ms = 200              # how often received messages are handed to the writer
min_interval_ms = 50
"""

VARIABLE = """
  [[contexts.variables]]
  id = {id}
  codename = "{codename}"
  reader = "bus"
  address = "lab/{codename}"
"""

QUANTITIES = ("temperature", "pressure")


def central(machines: int) -> str:
    codenames = [f"m{n:02d}_{q}" for n in range(1, machines + 1) for q in QUANTITIES]
    return HEADER.format(machines=machines) + "".join(
        VARIABLE.format(id=i, codename=c) for i, c in enumerate(codenames, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=3, help="how many lab machines (m01, m02, …)")
    print(central(parser.parse_args().machines), end="")


if __name__ == "__main__":
    main()
