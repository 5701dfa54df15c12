package h2

import (
	"fmt"
	"testing"

	"golang.org/x/net/http2"
)

// A client that returns credit frame by frame, on the stream and on the
// connection, to many streams whose bodies outgrow the windows: every
// stream gets its turn at the connection window (none waits for another
// to finish), and the frames do not shrink into slivers (with one stream
// taking every credit first they did: 4,634 frames, most under 2 KiB).
func TestWindowTurnsAndNoSlivers(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16384})
	const streams, size = 10, 200_000
	for i := 0; i < streams; i++ {
		cl.headers(uint32(2*i+1), true, reqFields("GET", fmt.Sprintf("/size/%d", size))...)
	}
	cl.sync()
	got := map[uint32]int{}
	firstDone, started := -1, 0
	frames, small := 0, 0
	for done := 0; done < streams && frames < 100_000; {
		f, err := cl.read()
		if err != nil {
			t.Fatalf("stalled after %d frames with %d streams done (%v): %v", frames, done, got, err)
		}
		d, ok := f.(*http2.DataFrame)
		if !ok {
			continue
		}
		frames++
		id, n := d.StreamID, len(d.Data())
		if got[id] == 0 && n > 0 {
			started++
		}
		got[id] += n
		if d.StreamEnded() {
			done++
			if firstDone < 0 {
				firstDone = started
			}
		} else if n < 256 {
			small++
			if small < 20 {
				t.Logf("frame %d: stream %d, %d bytes", frames, id, n)
			}
		}
		if n > 0 { // credit back for exactly this frame
			cl.fr.WriteWindowUpdate(0, uint32(n))
			cl.fr.WriteWindowUpdate(id, uint32(n))
			cl.sync()
		}
	}
	for i := 0; i < streams; i++ {
		if got[uint32(2*i+1)] != size {
			t.Fatalf("stream %d got %d bytes, want %d (%d frames)", 2*i+1, got[uint32(2*i+1)], size, frames)
		}
	}
	if firstDone < streams {
		t.Errorf("only %d of %d streams had any data when the first finished: one stream took the connection window", firstDone, streams)
	}
	if frames > 3*streams*size/16384 {
		t.Errorf("%d DATA frames for %d bytes, %d of them under 256 bytes without ending their stream", frames, streams*size, small)
	}
	t.Logf("%d frames for %d bytes", frames, streams*size)
}

// After a SETTINGS_INITIAL_WINDOW_SIZE decrease, a stream that once had a
// large window still sends with the small credits the peer now grants
// (no floor may hold back a window the peer will not enlarge).
func TestWindowFloorFollowsSettingsDecrease(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/size/300000")...)
	cl.fr.WriteWindowUpdate(0, 1<<20)
	cl.fr.WriteWindowUpdate(1, 1<<20) // the stream's peak window: over 1 MiB
	cl.sync()
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	cl.sync()
	got := 0
	for i := 0; i < 20_000 && got < 300_000; i++ {
		f, err := cl.read()
		if err != nil {
			// Nothing more without credit: grant the stream a little.
			cl.fr.WriteWindowUpdate(1, 50)
			cl.sync()
			continue
		}
		if d, ok := f.(*http2.DataFrame); ok {
			got += len(d.Data())
			if d.StreamEnded() {
				break
			}
		}
	}
	if got != 300_000 {
		t.Fatalf("stream got %d of 300000 bytes: stuck on 50-byte credits after the decrease", got)
	}
}

// A client that keeps its connection window tiny (after the protocol's
// first 65,535 bytes it lets at most 2,012 be outstanding, as `h2load -W
// 11` does) still gets its whole body: nothing waits for a window the
// client will never open.
func TestTinyConnectionWindowProgresses(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	cl.headers(1, true, reqFields("GET", "/size/300000")...)
	cl.sync()
	got, credited := 0, 0
	for i := 0; i < 10_000 && got < 300_000; i++ {
		f, err := cl.read()
		if err != nil {
			avail := 65535 + credited - got // the window as the client sees it
			if avail >= 2012/2 {
				t.Fatalf("stalled at %d of 300000 bytes with %d bytes of window open", got, avail)
			}
			cl.fr.WriteWindowUpdate(0, uint32(2012-avail))
			credited += 2012 - avail
			cl.sync()
			continue
		}
		if d, ok := f.(*http2.DataFrame); ok {
			got += len(d.Data())
		}
	}
	if got != 300_000 {
		t.Fatalf("got %d of 300000 bytes", got)
	}
}
