// Written by the UltraZend recovery runbook (phase 03): users.__WANTED__ is the column the code reads.
// Idempotent and safe on each of the four states the seed describes:
//   __LEGACY__ only -> rename it; neither -> add __WANTED__; both -> merge, then drop __LEGACY__;
//   __WANTED__ only -> nothing to do.
const WANTED = __WANTED_JSON__;
const LEGACY = __LEGACY_JSON__;

exports.up = async function (knex) {
  const hasLegacy = await knex.schema.hasColumn('users', LEGACY);
  const hasWanted = await knex.schema.hasColumn('users', WANTED);
  if (hasLegacy && !hasWanted) {
    // Native RENAME COLUMN keeps the data, the NOT NULL and the default, and touches no foreign key.
    await knex.raw('ALTER TABLE ?? RENAME COLUMN ?? TO ??', ['users', LEGACY, WANTED]);
  } else if (!hasLegacy && !hasWanted) {
    await knex.schema.alterTable('users', (table) => {
      table.boolean(WANTED).notNullable().defaultTo(false);
    });
  } else if (hasLegacy && hasWanted) {
    // Merge before dropping: a user verified under either column stays verified.
    await knex.raw('UPDATE ?? SET ?? = 1 WHERE coalesce(??, 0) != 0 AND coalesce(??, 0) = 0',
      ['users', WANTED, LEGACY, WANTED]);
    // Native DROP COLUMN (SQLite 3.35+) does not rebuild the table, so rows that reference users stay put.
    await knex.raw('ALTER TABLE ?? DROP COLUMN ??', ['users', LEGACY]);
  }
};

exports.down = async function () {
  // Irreversible on purpose: putting the old column back would break the code that reads WANTED.
  // A rollback restores the verified backup instead.
};
