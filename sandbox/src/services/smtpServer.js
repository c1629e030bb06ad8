// SMTP listeners: MX (inbound mail) and submission (clients), built on smtp-server.
// The greeting reads "220 <host> ESMTP UltraZend ESMTP ready".
const { SMTPServer } = require('smtp-server');
const { SecurityManager } = require('./securityManager');
const { EmailProcessor } = require('./emailProcessor');
const { logger } = require('../config/logger');

class UltraZendSMTPServer {
  constructor({ mxPort = 25, submissionPort = 587, host = '127.0.0.1', hostname = 'mail.ultrazend.com.br' } = {}) {
    this.mxPort = Number(mxPort);
    this.submissionPort = Number(submissionPort);
    this.host = host;
    this.hostname = hostname;
    this.security = new SecurityManager();
    this.processor = new EmailProcessor();
    this.servers = [];
  }

  _make(direction) {
    return new SMTPServer({
      name: this.hostname,
      banner: 'UltraZend ESMTP ready',
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      size: 25 * 1024 * 1024,
      logger: false,
      onConnect: (session, cb) => {
        this.security
          .checkConnection(session.remoteAddress)
          .then((r) => {
            if (r.allowed) return cb();
            const e = new Error(`Connection refused: ${r.reason}`);
            e.responseCode = 554;
            return cb(e);
          })
          .catch(() => cb()); // a broken DB must not block the SMTP greeting
      },
      onAuth: (auth, session, cb) => cb(null, { user: auth.username }),
      onData: (stream, session, cb) => {
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          this.processor
            .process({
              from: session.envelope.mailFrom && session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              raw,
              direction,
            })
            .then((id) => cb(null, `Message queued as ${id}`))
            .catch((err) => {
              logger.error('cannot store email', { error: err.message });
              const e = new Error('Temporary failure, try again later');
              e.responseCode = 451;
              cb(e);
            });
        });
      },
    });
  }

  listen(server, port, label) {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.removeListener('error', reject);
        server.on('error', (err) => logger.error(`smtp ${label} error`, { error: err.message }));
        logger.info(`SMTP ${label} listening`, { port });
        resolve();
      });
    });
  }

  async start() {
    const mx = this._make('inbound');
    const submission = this._make('outbound');
    this.servers = [mx, submission];
    await this.listen(mx, this.mxPort, 'mx');
    await this.listen(submission, this.submissionPort, 'submission');
  }

  async stop() {
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

exports.default = UltraZendSMTPServer;
exports.UltraZendSMTPServer = UltraZendSMTPServer;
