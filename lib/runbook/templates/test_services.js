// The seed's test_services.js (phase 5.1), run by the UltraZend recovery runbook with `node -e`
// in the backend folder: require the logger and the three services and instantiate them, without
// starting anything. One JSON line per service on stdout; the exit code is the verdict.
const MX_PORT = __MX_PORT_JSON__;
const SUBMISSION_PORT = __SUBMISSION_PORT_JSON__;

function report(service, ok, detail) {
  process.stdout.write(JSON.stringify({ service, ok, detail }) + '\n');
}

function testServices() {
  let failed = 0;
  const steps = [
    ['logger', () => {
      const { logger } = require('./src/config/logger');
      if (!logger || typeof logger.info !== 'function') throw new Error('src/config/logger exports no logger.info');
      return 'loaded';
    }],
    ['SecurityManager', () => {
      const { SecurityManager } = require('./src/services/securityManager');
      new SecurityManager();
      return 'initialised';
    }],
    ['EmailProcessor', () => {
      const { EmailProcessor } = require('./src/services/emailProcessor');
      new EmailProcessor();
      return 'initialised';
    }],
    ['UltraZendSMTPServer', () => {
      const UltraZendSMTPServer = require('./src/services/smtpServer').default;
      // Test ports, and the server is not started: nothing listens, nothing live is touched.
      new UltraZendSMTPServer({ mxPort: MX_PORT, submissionPort: SUBMISSION_PORT });
      return `initialised (mx ${MX_PORT}, submission ${SUBMISSION_PORT}, not started)`;
    }],
  ];
  for (const [service, fn] of steps) {
    try {
      report(service, true, fn());
    } catch (error) {
      failed += 1;
      report(service, false, `${error.name}: ${error.message}`);
    }
  }
  // Exit explicitly: a knex pool created by src/config/database would keep the event loop alive.
  process.exit(failed ? 1 : 0);
}

testServices();
