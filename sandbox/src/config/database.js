// Shared knex instance (module.exports = db), used by the services and the seed's scripts:
//   const db = require('./src/config/database');
const knex = require('knex');
const knexfile = require('../../knexfile');

const env = process.env.NODE_ENV || 'development';
const config = knexfile[env] || knexfile.development;

const db = knex({
  ...config,
  pool: {
    min: 1,
    max: 1,
    // better-sqlite3 already waits 5 s on a locked database; keep it explicit.
    afterCreate: (conn, done) => {
      conn.pragma('busy_timeout = 5000');
      done(null, conn);
    },
  },
});

module.exports = db;
