import { readFileSync } from 'node:fs';
import t from 'tap';
import { COMMANDS } from '../src/cli/run.js';
import { ENVIRONMENT_VARIABLES } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('the README documents every environment variable and every CLI command', async (t) => {
  for (const variable of ENVIRONMENT_VARIABLES) t.match(readme, new RegExp(`\\| \`${variable}\` \\|`), variable);
  for (const command of COMMANDS) t.match(readme, new RegExp(`^### .*\`${command.name}[ \`]`, "m"), command.name);
});
