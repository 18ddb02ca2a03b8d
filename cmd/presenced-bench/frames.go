package main

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The tool shares the machine with the server it measures, so what it
// spends reading frames is taken from the server. Decoding every frame
// with encoding/json was 40% of the tool's CPU at 1,000 viewers (each
// viewer's presence:connected lists every user online; each change is a
// frame per viewer). The frames the tool reads most are therefore read
// off the bytes when they have the server's plain form, and decoded in
// full only when they do not.

// userStatus is one user of a presence frame.
type userStatus struct{ user, status string }

// presenceUsers returns the users and statuses of a presence:update.
func presenceUsers(b []byte) ([]userStatus, error) {
	if us, ok := scanPresence(b); ok {
		return us, nil
	}
	var u struct {
		Data struct {
			Users []struct {
				UserID string `json:"userId"`
				Status string `json:"status"`
			} `json:"users"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, err
	}
	out := make([]userStatus, len(u.Data.Users))
	for i, p := range u.Data.Users {
		out[i] = userStatus{p.UserID, p.Status}
	}
	return out, nil
}

// scanPresence reads the users of a presence frame whose objects are flat
// and hold "userId" before "status", with no escaped characters; false
// for anything else.
func scanPresence(b []byte) ([]userStatus, bool) {
	const list, userKey, statusKey = `"users":[`, `"userId":"`, `"status":"`
	if bytes.IndexByte(b, '\\') >= 0 {
		return nil, false
	}
	i := bytes.Index(b, []byte(list))
	if i < 0 {
		return nil, false
	}
	rest := b[i+len(list):]
	var out []userStatus
	for len(rest) > 0 && rest[0] == '{' {
		end := bytes.IndexByte(rest, '}')
		if end < 0 || bytes.IndexByte(rest[1:end], '{') >= 0 {
			return nil, false
		}
		user, ok1 := stringAfter(rest[:end], userKey)
		status, ok2 := stringAfter(rest[:end], statusKey)
		if !ok1 || !ok2 {
			return nil, false
		}
		out = append(out, userStatus{user, status})
		rest = rest[end+1:]
		if len(rest) > 0 && rest[0] == ',' {
			rest = rest[1:]
		}
	}
	if len(rest) == 0 || rest[0] != ']' {
		return nil, false
	}
	return out, true
}

// stringAfter is the string value following key in obj.
func stringAfter(obj []byte, key string) (string, bool) {
	i := bytes.Index(obj, []byte(key))
	if i < 0 {
		return "", false
	}
	v := obj[i+len(key):]
	end := bytes.IndexByte(v, '"')
	if end < 0 {
		return "", false
	}
	return string(v[:end]), true
}

// helloOf reads presence:connected's heartbeat interval. The server puts
// it after the users, so it is looked for from the end, past a list that
// may be a megabyte long.
func helloOf(b []byte) (hello, error) {
	const key = `"heartbeatIntervalMs":`
	if i := bytes.LastIndex(b, []byte(key)); i >= 0 && bytes.IndexByte(b[i:], '\\') < 0 {
		digits := b[i+len(key):]
		n := 0
		for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
			n++
		}
		if ms, err := strconv.ParseInt(string(digits[:n]), 10, 64); err == nil && n < len(digits) {
			return hello{HeartbeatIntervalMs: ms}, nil
		}
	}
	var f struct {
		Data hello `json:"data"`
	}
	err := json.Unmarshal(b, &f)
	return f.Data, err
}
