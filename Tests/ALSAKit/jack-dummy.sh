#!/usr/bin/env bash
# A JACK server on the dummy backend for the streamrnn_jack test PCM (16 kHz, 160-frame periods,
# one capture port), named by JACK_DEFAULT_SERVER, with its pid and log in STREAMRNN_TEST_DIR.
#   jack-dummy.sh start   starts it and waits (up to 10 s) until its capture port exists
#   jack-dummy.sh stop    stops it
# STREAMRNN_JACK_REALTIME=1 runs the server's driver thread real-time (SCHED_FIFO, as a real
# device's server runs; needs the privilege, else jackd goes on without it): the soak uses it, so
# that a loaded machine cannot starve the device it captures from.
set -u
name="${JACK_DEFAULT_SERVER:?set JACK_DEFAULT_SERVER}"
dir="${STREAMRNN_TEST_DIR:?set STREAMRNN_TEST_DIR}"
pidfile="$dir/jackd.pid"
case "${1:-}" in
  start)
    command -v jackd >/dev/null || { echo "jack-dummy.sh: jackd is not installed (apt-get install jackd2)" >&2; exit 2; }
    mkdir -p "$dir"
    realtime="--no-realtime"
    [ "${STREAMRNN_JACK_REALTIME:-0}" = 1 ] && realtime="--realtime"
    JACK_NO_AUDIO_RESERVATION=1 jackd "$realtime" -n "$name" -d dummy -r 16000 -p 160 -C 1 -P 1 \
      >"$dir/jackd.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 100); do
      jack_lsp -s "$name" 2>/dev/null | grep -qx "system:capture_1" && exit 0
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
    echo "jack-dummy.sh: jackd did not start; its log:" >&2
    cat "$dir/jackd.log" >&2
    exit 1 ;;
  stop)
    [ -f "$pidfile" ] || exit 0
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
    exit 0 ;;
  *)
    echo "usage: jack-dummy.sh start|stop" >&2
    exit 2 ;;
esac
