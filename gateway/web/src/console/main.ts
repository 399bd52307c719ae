import { createApp } from 'vue'
import { createRouter, createWebHashHistory } from 'vue-router'
import 'element-plus/dist/index.css'
import './console.css'
import App from './App.vue'
import Counter from './Counter.vue'
import { restore } from './session'

// Hash routes: the gateway serves one page at /console/, and a reload anywhere stays there.
// Administration screens load on first use, so a counter PC fetches only the workstation.
const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', redirect: '/counter' },
    { path: '/counter', component: Counter, meta: { title: '窗口工作台' } },
    { path: '/admin/hours', component: () => import('./admin/Hours.vue'), meta: { title: '办公时间' } },
    { path: '/admin/calendar', component: () => import('./admin/Calendar.vue'), meta: { title: '节假日日历' } },
    { path: '/admin/stats', component: () => import('./admin/Stats.vue'), meta: { title: '排队统计' } },
    { path: '/admin/hall', component: () => import('./admin/Hall.vue'), meta: { title: '大厅设置' } },
    { path: '/admin/staff', component: () => import('./admin/Staff.vue'), meta: { title: '人员与角色' } },
    { path: '/admin/parked', component: () => import('./admin/Parked.vue'), meta: { title: '挂起的申请' } },
    { path: '/admin/rectifications', component: () => import('./admin/Rectifications.vue'), meta: { title: '差评整改' } },
    { path: '/:rest(.*)', redirect: '/counter' },
  ],
})

restore()
createApp(App).use(router).mount('#app')
