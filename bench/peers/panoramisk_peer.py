"""panoramisk on the load harness's AMI stream: log in, count every event
until the harness's end marker (UserEvent LoadEnd), print the count, close.

Run by the harness: venv/bin/python panoramisk_peer.py PORT
"""
import asyncio
import sys
import time

from panoramisk import Manager


def main():
    port = int(sys.argv[1])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    done = loop.create_future()
    state = {"events": 0, "first": None}
    manager = Manager(loop=loop, host="127.0.0.1", port=port,
                      username="bridge", secret="load-secret",
                      ping_delay=3600, ping_interval=3600)

    def on_event(mgr, event):
        if event.event == "UserEvent" and event.get("UserEvent") == "LoadEnd":
            if not done.done():
                done.set_result(None)
            return
        if state["first"] is None:
            state["first"] = time.monotonic()
        state["events"] += 1

    manager.register_event("*", on_event)
    loop.run_until_complete(manager.connect())
    loop.run_until_complete(done)
    secs = time.monotonic() - (state["first"] or time.monotonic())
    manager.close()
    print(f"events={state['events']} seconds={secs:.3f}", flush=True)


if __name__ == "__main__":
    main()
