// Package timewheel owns the per-event-loop hashed timing wheel that runs
// header, idle and route timeouts (DESIGN.md principle 5) without a
// goroutine or a time.Timer per request.
//
// A Wheel belongs to one goroutine, the event loop: nothing in it is
// locked, and every method must be called from that goroutine.
//
// A Timer is embedded by value in its owner (a connection, an upstream
// exchange) and linked into the wheel intrusively, so Schedule, Stop and a
// reschedule allocate nothing and cost O(1). The owner calls Init once
// with the Handler that fires, so no closure is built per schedule. The
// owner must not be copied once its timer is initialised (vet's copylocks
// check catches copies).
//
// # Time and resolution
//
// The wheel takes time as monotonic nanoseconds supplied by the caller (the
// loop reads its clock once per wakeup and passes the same value around),
// so it never calls time.Now itself. Time is cut into ticks of the given
// duration; a timer with deadline D fires during the first Advance whose now
// reaches the end of the tick containing D, that is never before D and at
// most one tick (plus however late the loop calls Advance) after it. Timers
// due in the same tick fire in the order they were scheduled; timers of
// earlier ticks fire first.
//
// A 100 ms tick suits Portico's timeouts: header (10 s default) and idle (60
// s) timeouts are protective limits, where firing up to 100 ms late is a 1%
// error and firing early never happens; route timeouts are usually seconds
// too. An idle loop only needs to wake once per tick, and only while timers
// are pending (Len). If routes use sub-second timeouts, pick a tick of about
// a tenth of the shortest one.
//
// Deadlines further away than one revolution (tick × slots) wait in their
// slot for as many rounds as needed: the wheel stores each timer's absolute
// expiry tick and a slot visit fires only timers whose tick has come. With
// 100 ms and 1024 slots a revolution is 102.4 s, so the usual timeouts
// take a single visit.
//
// If the loop stalls, the next Advance catches up tick by tick, so timers
// still fire in deadline-tick order; when no timer is pending it jumps
// straight to now.
package timewheel
