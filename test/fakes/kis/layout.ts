/**
 * Record layouts of the fake KIS server, written out from /work/shared/reference/kis-websocket.md §4
 * on purpose apart from the producer's own table (producers/kis/trs.ts): a fake that borrowed the
 * producer's field positions would agree with any mistake in them.
 */

export const H0STCNT0 = [
  'MKSC_SHRN_ISCD', 'STCK_CNTG_HOUR', 'STCK_PRPR', 'PRDY_VRSS_SIGN', 'PRDY_VRSS', 'PRDY_CTRT',
  'WGHN_AVRG_STCK_PRC', 'STCK_OPRC', 'STCK_HGPR', 'STCK_LWPR', 'ASKP1', 'BIDP1', 'CNTG_VOL',
  'ACML_VOL', 'ACML_TR_PBMN', 'SELN_CNTG_CSNU', 'SHNU_CNTG_CSNU', 'NTBY_CNTG_CSNU', 'CTTR',
  'SELN_CNTG_SMTN', 'SHNU_CNTG_SMTN', 'CCLD_DVSN', 'SHNU_RATE', 'PRDY_VOL_VRSS_ACML_VOL_RATE',
  'OPRC_HOUR', 'OPRC_VRSS_PRPR_SIGN', 'OPRC_VRSS_PRPR', 'HGPR_HOUR', 'HGPR_VRSS_PRPR_SIGN',
  'HGPR_VRSS_PRPR', 'LWPR_HOUR', 'LWPR_VRSS_PRPR_SIGN', 'LWPR_VRSS_PRPR', 'BSOP_DATE',
  'NEW_MKOP_CLS_CODE', 'TRHT_YN', 'ASKP_RSQN1', 'BIDP_RSQN1', 'TOTAL_ASKP_RSQN', 'TOTAL_BIDP_RSQN',
  'VOL_TNRT', 'PRDY_SMNS_HOUR_ACML_VOL', 'PRDY_SMNS_HOUR_ACML_VOL_RATE', 'HOUR_CLS_CODE',
  'MRKT_TRTM_CLS_CODE', 'VI_STND_PRC',
] as const;

const ten = (p: string) => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `${p}${i}`);

export const H0STASP0 = [
  'MKSC_SHRN_ISCD', 'BSOP_HOUR', 'HOUR_CLS_CODE',
  ...ten('ASKP'), ...ten('BIDP'), ...ten('ASKP_RSQN'), ...ten('BIDP_RSQN'),
  'TOTAL_ASKP_RSQN', 'TOTAL_BIDP_RSQN', 'OVTM_TOTAL_ASKP_RSQN', 'OVTM_TOTAL_BIDP_RSQN',
  'ANTC_CNPR', 'ANTC_CNQN', 'ANTC_VOL', 'ANTC_CNTG_VRSS', 'ANTC_CNTG_VRSS_SIGN',
  'ANTC_CNTG_PRDY_CTRT', 'ACML_VOL', 'TOTAL_ASKP_RSQN_ICDC', 'TOTAL_BIDP_RSQN_ICDC',
  'OVTM_TOTAL_ASKP_ICDC', 'OVTM_TOTAL_BIDP_ICDC', 'STCK_DEAL_CLS_CODE',
];

export const H0UNASP0 = [
  ...H0STASP0, 'KMID_PRC', 'KMID_TOTAL_RSQN', 'KMID_CLS_CODE', 'NMID_PRC', 'NMID_TOTAL_RSQN', 'NMID_CLS_CODE',
];

/** The layouts since 2026-09-14 (reference §5): 47 trade fields, 63 KRX book fields, 66 combined book fields. */
export const H0STCNT0_2026 = [...H0STCNT0, 'MARKET_CLS_CODE'];
export const H0STASP0_2026 = [...H0STASP0, 'MID_PRC', 'MIDP_TOTAL_RSQN', 'MIDP_CLS_CODE', 'MARKET_CLS_CODE'];
export const H0UNASP0_2026 = [...H0UNASP0, 'ANTC_EXCH_CLS_CODE'];

export type FakeVenue = 'KRX' | 'NXT' | 'INTEGRATED';

/**
 * TRs the fake serves: trades (from the simulator's ticks) and books (from its order books), by the
 * venue of the simulated event; INTEGRATED serves both venues. `layout` is the old one, `layout2026`
 * the current one (H0NXASP0 keeps its 65 fields: no change to it is documented).
 */
export const FAKE_TRS: Readonly<Record<string, { kind: 'trade' | 'book'; venue: FakeVenue; layout: readonly string[]; layout2026: readonly string[] }>> = {
  H0STCNT0: { kind: 'trade', venue: 'KRX', layout: H0STCNT0, layout2026: H0STCNT0_2026 },
  H0NXCNT0: { kind: 'trade', venue: 'NXT', layout: H0STCNT0, layout2026: H0STCNT0_2026 },
  H0UNCNT0: { kind: 'trade', venue: 'INTEGRATED', layout: H0STCNT0, layout2026: H0STCNT0_2026 },
  H0STASP0: { kind: 'book', venue: 'KRX', layout: H0STASP0, layout2026: H0STASP0_2026 },
  H0NXASP0: { kind: 'book', venue: 'NXT', layout: H0UNASP0, layout2026: H0UNASP0 },
  H0UNASP0: { kind: 'book', venue: 'INTEGRATED', layout: H0UNASP0, layout2026: H0UNASP0_2026 },
};
