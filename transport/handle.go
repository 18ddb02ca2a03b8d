package transport

import (
	"time"

	"github.com/presenced/presenced/messages"
)

// handle decodes one admitted text frame and hands it to the actors. Bad
// input is answered with an error frame and changes nothing.
func (c *conn) handle(frame []byte) {
	cmd, typ, ref, derr := c.srv.decoder.decode(frame)
	c.srv.metrics.countIn(typ)
	if derr != nil {
		c.sess.Touch()
		c.replyError(ref, derr)
		return
	}
	var err error
	switch m := cmd.(type) {
	case cmdHeartbeat:
		c.sess.Heartbeat()
		c.Push(messages.HeartbeatAckFrame(ref, time.Now().UnixMilli()))
	case cmdFocus:
		err = c.sess.Focus(m.PartnerID)
	case cmdBlur:
		c.sess.Blur(m.PartnerID)
	case cmdSubscribe:
		c.sess.Subscribe(ref, m.UserIDs)
	case cmdUnsubscribe:
		c.sess.Unsubscribe(m.UserIDs)
	case cmdSend:
		c.sess.Send(ref, m.ConversationID, m.Content, m.ClientMsgID)
	case cmdMarkRead:
		c.sess.MarkRead(ref, m.ConversationID, m.UpToSeq)
	case cmdTyping:
		c.sess.Typing(ref, m.ConversationID, m.IsTyping)
	case cmdJoin:
		c.sess.Join(ref, m.ConversationID)
	case cmdLeave:
		c.sess.Leave(ref, m.ConversationID)
	case cmdHistory:
		c.sess.History(ref, m.ConversationID, m.BeforeSeq, m.AfterSeq, m.Forward, m.Limit)
	}
	if err != nil {
		c.replyError(ref, err)
	}
}

// replyError answers a request with an error frame.
func (c *conn) replyError(ref string, err error) {
	code, msg := c.srv.clientError(err, "conn_id", c.sess.ID(), "user_id", c.sess.UserID())
	c.Push(messages.ErrorFrame(ref, code, msg))
}
