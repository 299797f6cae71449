/** Types of build-dashboard.mjs, for test/global-setup.ts. */
export declare const DASHBOARD_SOURCE: string;
export declare const DASHBOARD_DIST: string;
export declare function buildDashboard(): Promise<void>;
export declare function dashboardIsStale(): boolean;
