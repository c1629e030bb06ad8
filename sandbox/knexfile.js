// Knex configuration for the UltraZend backend.
// DATABASE_URL is a path to the SQLite file; a relative path is taken from this folder,
// so `npm run migrate:*` and the app (cwd = backend/) always open the same file.
const path = require('path');

const filename = path.resolve(__dirname, process.env.DATABASE_URL || './ultrazend.sqlite');

const base = {
  client: 'better-sqlite3',
  useNullAsDefault: true,
  connection: { filename },
  migrations: {
    directory: path.join(__dirname, 'src', 'migrations'),
    tableName: 'knex_migrations',
    loadExtensions: ['.js'],
  },
};

module.exports = {
  development: base,
  production: base,
  test: base,
};
