// Stores accepted messages in the emails table (status 'received').
const crypto = require('crypto');
const db = require('../config/database');
const { logger } = require('../config/logger');

function header(raw, name) {
  const m = raw.match(new RegExp(`^${name}:\\s*(.*)$`, 'im'));
  return m ? m[1].trim() : null;
}

class EmailProcessor {
  constructor(options = {}) {
    this.systemEmail = options.systemEmail || 'system@ultrazend.com.br';
  }

  async process({ from, to, raw, direction }) {
    const owner = await db('users').where('email', this.systemEmail).first('id');
    const messageId = header(raw, 'Message-ID') || `<${crypto.randomUUID()}@ultrazend.com.br>`;
    const [id] = await db('emails').insert({
      user_id: owner ? owner.id : null,
      message_id: messageId,
      from_email: from || '',
      to_email: (to || []).join(','),
      subject: header(raw, 'Subject') || '(no subject)',
      status: direction === 'inbound' ? 'received' : 'queued',
      size_bytes: Buffer.byteLength(raw),
      created_at: db.fn.now(),
      updated_at: db.fn.now(),
    });
    await db('processed_emails').insert({
      email_id: id,
      message_id: messageId,
      direction: direction || 'inbound',
      result: 'accepted',
      processed_at: db.fn.now(),
    });
    logger.info('email stored', { id, messageId, direction });
    return id;
  }
}

module.exports = { EmailProcessor };
