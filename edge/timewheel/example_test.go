package timewheel_test

import (
	"fmt"
	"time"

	"github.com/portico-gw/portico/edge/timewheel"
)

// conn owns its timers by value and is their Handler.
type conn struct {
	id      int
	headerT timewheel.Timer
	idleT   timewheel.Timer
}

func (c *conn) OnTimer(t *timewheel.Timer, now int64) {
	switch t {
	case &c.headerT:
		fmt.Printf("conn %d: header timeout at %v\n", c.id, time.Duration(now))
	case &c.idleT:
		fmt.Printf("conn %d: idle timeout at %v\n", c.id, time.Duration(now))
	}
}

func Example() {
	w := timewheel.New(100*time.Millisecond, 1024)
	a, b := &conn{id: 1}, &conn{id: 2}
	for _, c := range []*conn{a, b} {
		c.headerT.Init(c)
		c.idleT.Init(c)
		w.Schedule(&c.headerT, 10*time.Second, 0)
	}
	// Conn 2's head arrives at 1 s: stop its header timer, start idle.
	w.Stop(&b.headerT)
	w.Schedule(&b.idleT, 60*time.Second, int64(time.Second))

	// The loop advances the wheel whenever it wakes.
	for now := int64(0); now <= int64(70*time.Second); now += int64(50 * time.Millisecond) {
		w.Advance(now)
	}
	// Output:
	// conn 1: header timeout at 10s
	// conn 2: idle timeout at 1m1s
}
