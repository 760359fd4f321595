"""Runs scripts written by `vigil export flink` on a local Flink mini-cluster
through PyFlink, statement by statement, the way sql-client.sh -f would:
SET statements become configuration, CREATE statements go to
TableEnvironment.execute_sql, and the INSERTs of each script's
EXECUTE STATEMENT SET join one statement set.

Several scripts run as one Flink job (one JVM, one mini-cluster start): each
script's tables and views live in a database of their own, so the pipelines
share nothing but the job. Their SET statements must agree.

usage: python flink_runner.py SCRIPT.sql...
Prints one line `flink: <seconds>` with the job's wall time; exits non-zero
with Flink's message when a statement or the job fails.
"""

import sys
import time


def statements(text):
    """Splits a script at `;` outside quotes and comments; an EXECUTE
    STATEMENT SET block (BEGIN ... END;) is one statement."""
    out, cur, i, n = [], [], 0, len(text)
    quote = None
    while i < n:
        c = text[i]
        if quote:
            cur.append(c)
            if c == quote:
                if i + 1 < n and text[i + 1] == quote:
                    cur.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif c in "'`":
            quote = c
            cur.append(c)
        elif c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == ";":
            stmt = "".join(cur).strip()
            upper = stmt.upper()
            if upper.startswith("EXECUTE STATEMENT SET") and not upper.endswith("END"):
                cur.append(c)
            else:
                if stmt:
                    out.append(stmt)
                cur = []
        else:
            cur.append(c)
        i += 1
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse_set(stmt):
    body = stmt[3:].strip()
    key, value = body.split("=", 1)
    unquote = lambda s: s.strip().strip("'").replace("''", "'")
    return unquote(key), unquote(value)


def inserts(block):
    """The INSERT statements inside EXECUTE STATEMENT SET BEGIN ... END."""
    body = block.strip()
    start = body.upper().index("BEGIN") + len("BEGIN")
    end = body.upper().rindex("END")
    return [s for s in statements(body[start:end]) if s]


def main(paths):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    scripts = [statements(open(p, encoding="utf-8").read()) for p in paths]
    settings = {}
    for script in scripts:
        for stmt in script:
            if stmt.upper().startswith("SET "):
                k, v = parse_set(stmt)
                if settings.get(k, v) != v:
                    sys.exit(f"scripts disagree on SET {k}: {settings[k]} vs {v}")
                settings[k] = v
    mode = settings.pop("execution.runtime-mode", "streaming")
    env_settings = (
        EnvironmentSettings.in_streaming_mode()
        if mode == "streaming"
        else EnvironmentSettings.in_batch_mode()
    )
    env = TableEnvironment.create(env_settings)
    config = env.get_config()
    for k, v in settings.items():
        config.set(k, v)
    statement_set = env.create_statement_set()
    for n, (path, script) in enumerate(zip(paths, scripts)):
        database = f"script_{n}"
        env.execute_sql(f"CREATE DATABASE `{database}`")
        env.use_database(database)
        for stmt in script:
            upper = stmt.upper()
            try:
                if upper.startswith("SET "):
                    continue
                if upper.startswith("EXECUTE STATEMENT SET"):
                    for insert in inserts(stmt):
                        statement_set.add_insert_sql(insert)
                else:
                    env.execute_sql(stmt)
            except Exception as e:  # Flink's message, shortened to its causes
                lines = [l for l in str(e).splitlines() if "Exception" in l]
                sys.exit(f"{path}: statement failed: {stmt[:200]}\n" + "\n".join(lines[:6]))
    started = time.time()
    try:
        result = statement_set.execute()
        # raises when the job failed (wait() alone may return either way)
        result.get_job_client().get_job_execution_result().result()
    except Exception as e:
        lines = [l for l in str(e).splitlines() if "Exception" in l or "Caused by" in l]
        sys.exit("the Flink job failed:\n" + "\n".join(lines[:12]))
    print(f"flink: {time.time() - started:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
