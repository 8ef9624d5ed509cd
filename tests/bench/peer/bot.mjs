// The benchmark's peer (tests/bench/load.sh): the echo class of steps in Telegraf 4.16 with its Redis session, as
// a Node bot would do them — a /start menu, a text answered after reading and writing the session, a button that
// answers its callback and edits the message. Webhook in (secret token checked), Bot API calls out (no webhook
// replies, as kabinet: every answer is a call). Usage: node bot.mjs PORT API_ROOT REDIS_URL SECRET
import http from 'node:http';
import { Telegraf, Markup, session } from 'telegraf';
import { Redis } from '@telegraf/session/redis';

const [port, apiRoot, redisUrl, secret] = process.argv.slice(2);
const bot = new Telegraf('123456:PEER-token', { telegram: { apiRoot, webhookReply: false } });
bot.botInfo = { id: 1, is_bot: true, first_name: 'Peer', username: 'peer_bot' };
bot.use(session({ store: Redis({ url: redisUrl }), defaultSession: () => ({ n: 0, step: '' }) }));

const menu = Markup.inlineKeyboard([Markup.button.callback('Count', 'v:count')]);
const counting = Markup.inlineKeyboard([Markup.button.callback('+1', 'v:inc'), Markup.button.callback('Done', 'v:done')]);

bot.start((ctx) => {
  ctx.session.step = '';
  return ctx.reply('Hello! This is the menu.', menu);
});
bot.action('v:count', async (ctx) => {
  ctx.session.step = 'counting';
  await ctx.answerCbQuery();
  return ctx.editMessageText(`Counting: ${ctx.session.n}`, counting);
});
bot.action('v:done', async (ctx) => {
  ctx.session.step = '';
  await ctx.answerCbQuery();
  return ctx.editMessageText('Done.', menu);
});
bot.on('text', (ctx) => {
  ctx.session.n += 1;
  return ctx.reply(`You wrote: ${ctx.message.text} (${ctx.session.n})`, menu);
});
bot.catch((err) => console.error('peer:', err.message));

http.createServer(bot.webhookCallback('/telegram/webhook', { secretToken: secret })).listen(Number(port), '127.0.0.1');
