"""Container healthcheck: is this host's Airflow job of the given type alive?

`airflow jobs check` answers the same question but imports all of Airflow first, which took
51 s on a busy 2-core host and failed a 30 s healthcheck while the job was fine.  This reads
the job's heartbeat straight from the metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
in well under a second.  The hostname is Airflow's default one (`socket.getfqdn()`).

    python scripts/airflow_job_alive.py DagProcessorJob [--max-age 120]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

import sqlalchemy as sa

QUERY = sa.text(
    "SELECT count(*) FROM job WHERE job_type = :job_type AND hostname = :hostname"
    " AND state = 'running'"
    " AND latest_heartbeat > now() - make_interval(secs => :max_age)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_type", choices=["DagProcessorJob", "TriggererJob", "SchedulerJob"])
    parser.add_argument(
        "--max-age",
        type=float,
        default=120.0,
        help="seconds since the last heartbeat (Airflow heartbeats every 5 s)",
    )
    args = parser.parse_args()
    hostname = socket.getfqdn()
    engine = sa.create_engine(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], connect_args={"connect_timeout": 10}
    )
    try:
        with engine.connect() as conn:
            alive = conn.execute(
                QUERY, {"job_type": args.job_type, "hostname": hostname, "max_age": args.max_age}
            ).scalar_one()
    finally:
        engine.dispose()
    if alive:
        return 0
    sys.stderr.write(
        f"no running {args.job_type} on {hostname} with a heartbeat in the last"
        f" {args.max_age:g} s\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
