/**
 * Yesterday (UTC) at a time of day, e.g. yesterdayAt('14:58:30'). Tests simulate trading at fixed
 * times of day, but never on a fixed date: the market topics keep records for days (ticks 7), and a
 * run dated before that had its segments deleted by the broker's retention check in mid-test (the
 * slice and crash tests' flakes once the calendar passed their dates).
 */
export function yesterdayAt(timeOfDay: string): Date {
  return daysAgoAt(1, timeOfDay);
}

/**
 * `days` days ago (UTC) at a time of day. For runs whose records reach a day past their start (a
 * closing trade after a KST day): from yesterday that is later today, and the broker refuses a
 * record stamped over an hour ahead (log.message.timestamp.after.max.ms), so those runs start earlier.
 */
export function daysAgoAt(days: number, timeOfDay: string): Date {
  const m = /^(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?$/.exec(timeOfDay);
  if (!m) throw new Error(`not a time of day: ${timeOfDay}`);
  const midnight = (Math.floor(Date.now() / 86_400_000) - days) * 86_400_000;
  return new Date(midnight + ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1000 + Number((m[4] ?? '0').padEnd(3, '0')));
}
